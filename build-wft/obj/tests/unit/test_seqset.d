build-wft/obj/tests/unit/test_seqset.o: tests/unit/test_seqset.c \
 lib/base/buf.h lib/proto/seqset.h
lib/base/buf.h:
lib/proto/seqset.h:
