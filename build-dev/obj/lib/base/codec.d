build-dev/obj/lib/base/codec.o: lib/base/codec.c lib/base/codec.h \
 lib/base/buf.h lib/base/mem.h
lib/base/codec.h:
lib/base/buf.h:
lib/base/mem.h:
