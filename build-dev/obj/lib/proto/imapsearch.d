build-dev/obj/lib/proto/imapsearch.o: lib/proto/imapsearch.c \
 lib/proto/imapsearch.h lib/base/buf.h lib/proto/imapparse.h \
 lib/proto/seqset.h lib/base/mem.h lib/proto/mutf7.h
lib/proto/imapsearch.h:
lib/base/buf.h:
lib/proto/imapparse.h:
lib/proto/seqset.h:
lib/base/mem.h:
lib/proto/mutf7.h:
