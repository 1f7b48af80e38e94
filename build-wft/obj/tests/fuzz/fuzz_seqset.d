build-wft/obj/tests/fuzz/fuzz_seqset.o: tests/fuzz/fuzz_seqset.c \
 lib/base/buf.h lib/proto/seqset.h
lib/base/buf.h:
lib/proto/seqset.h:
