build-wft/obj/lib/base/b64.o: lib/base/b64.c lib/base/b64.h \
 lib/base/buf.h lib/base/mem.h
lib/base/b64.h:
lib/base/buf.h:
lib/base/mem.h:
