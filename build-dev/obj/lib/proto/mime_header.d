build-dev/obj/lib/proto/mime_header.o: lib/proto/mime_header.c \
 lib/base/mem.h lib/proto/mime.h lib/base/buf.h lib/proto/mime_internal.h
lib/base/mem.h:
lib/proto/mime.h:
lib/base/buf.h:
lib/proto/mime_internal.h:
