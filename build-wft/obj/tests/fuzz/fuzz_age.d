build-wft/obj/tests/fuzz/fuzz_age.o: tests/fuzz/fuzz_age.c \
 lib/crypto/age.h lib/base/buf.h
lib/crypto/age.h:
lib/base/buf.h:
