build-wft/obj/tests/unit/test_imapsearch.o: tests/unit/test_imapsearch.c \
 lib/base/buf.h lib/proto/imapparse.h lib/proto/seqset.h \
 lib/proto/imapsearch.h lib/proto/imapparse.h
lib/base/buf.h:
lib/proto/imapparse.h:
lib/proto/seqset.h:
lib/proto/imapsearch.h:
lib/proto/imapparse.h:
