build-dev/obj/lib/proto/mutf7.o: lib/proto/mutf7.c lib/proto/mutf7.h \
 lib/base/buf.h lib/base/codec.h lib/base/buf.h
lib/proto/mutf7.h:
lib/base/buf.h:
lib/base/codec.h:
lib/base/buf.h:
