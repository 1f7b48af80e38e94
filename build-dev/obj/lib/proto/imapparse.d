build-dev/obj/lib/proto/imapparse.o: lib/proto/imapparse.c \
 lib/proto/imapparse.h lib/proto/seqset.h lib/base/buf.h lib/base/mem.h \
 lib/proto/mutf7.h
lib/proto/imapparse.h:
lib/proto/seqset.h:
lib/base/buf.h:
lib/base/mem.h:
lib/proto/mutf7.h:
