build-wft/obj/tests/unit/test_imapparse.o: tests/unit/test_imapparse.c \
 lib/base/buf.h lib/proto/imapparse.h lib/proto/seqset.h
lib/base/buf.h:
lib/proto/imapparse.h:
lib/proto/seqset.h:
