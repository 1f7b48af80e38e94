build-wft/obj/tests/fuzz/fuzz_mutf7.o: tests/fuzz/fuzz_mutf7.c \
 lib/base/buf.h lib/proto/mutf7.h
lib/base/buf.h:
lib/proto/mutf7.h:
