build-dev/obj/lib/crypto/age.o: lib/crypto/age.c lib/crypto/age.h \
 lib/base/buf.h lib/base/codec.h lib/base/buf.h lib/base/bech32.h \
 lib/base/mem.h lib/base/rnd.h
lib/crypto/age.h:
lib/base/buf.h:
lib/base/codec.h:
lib/base/buf.h:
lib/base/bech32.h:
lib/base/mem.h:
lib/base/rnd.h:
