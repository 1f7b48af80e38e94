build-dev/obj/lib/proto/mime.o: lib/proto/mime.c lib/proto/mime.h \
 lib/base/buf.h lib/base/mem.h lib/proto/mime_internal.h \
 lib/proto/rfc2231.h
lib/proto/mime.h:
lib/base/buf.h:
lib/base/mem.h:
lib/proto/mime_internal.h:
lib/proto/rfc2231.h:
