build-wft/obj/tests/fuzz/fuzz_imapparse.o: tests/fuzz/fuzz_imapparse.c \
 lib/proto/imapparse.h lib/proto/seqset.h lib/base/buf.h \
 lib/proto/imapsearch.h lib/proto/imapparse.h lib/proto/seqset.h
lib/proto/imapparse.h:
lib/proto/seqset.h:
lib/base/buf.h:
lib/proto/imapsearch.h:
lib/proto/imapparse.h:
lib/proto/seqset.h:
