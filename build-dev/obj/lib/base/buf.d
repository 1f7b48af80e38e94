build-dev/obj/lib/base/buf.o: lib/base/buf.c lib/base/buf.h \
 lib/base/mem.h
lib/base/buf.h:
lib/base/mem.h:
