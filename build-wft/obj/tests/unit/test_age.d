build-wft/obj/tests/unit/test_age.o: tests/unit/test_age.c \
 lib/crypto/age.h lib/base/buf.h lib/base/b64.h lib/base/buf.h \
 lib/base/bech32.h lib/base/hex.h lib/base/rnd.h
lib/crypto/age.h:
lib/base/buf.h:
lib/base/b64.h:
lib/base/buf.h:
lib/base/bech32.h:
lib/base/hex.h:
lib/base/rnd.h:
