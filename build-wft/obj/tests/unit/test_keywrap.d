build-wft/obj/tests/unit/test_keywrap.o: tests/unit/test_keywrap.c \
 lib/base/buf.h lib/crypto/keywrap.h lib/crypto/kdf.h
lib/base/buf.h:
lib/crypto/keywrap.h:
lib/crypto/kdf.h:
