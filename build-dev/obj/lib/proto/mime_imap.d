build-dev/obj/lib/proto/mime_imap.o: lib/proto/mime_imap.c \
 lib/proto/mime.h lib/base/buf.h lib/proto/mime_internal.h
lib/proto/mime.h:
lib/base/buf.h:
lib/proto/mime_internal.h:
