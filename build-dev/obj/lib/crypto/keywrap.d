build-dev/obj/lib/crypto/keywrap.o: lib/crypto/keywrap.c \
 lib/crypto/keywrap.h lib/base/buf.h lib/crypto/kdf.h lib/base/rnd.h
lib/crypto/keywrap.h:
lib/base/buf.h:
lib/crypto/kdf.h:
lib/base/rnd.h:
