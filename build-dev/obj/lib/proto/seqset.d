build-dev/obj/lib/proto/seqset.o: lib/proto/seqset.c lib/proto/seqset.h \
 lib/base/buf.h lib/base/mem.h
lib/proto/seqset.h:
lib/base/buf.h:
lib/base/mem.h:
