build-dev/obj/lib/proto/msgtext.o: lib/proto/msgtext.c \
 lib/proto/msgtext.h lib/base/buf.h lib/proto/mime.h lib/proto/rfc2047.h \
 lib/base/codec.h lib/base/buf.h
lib/proto/msgtext.h:
lib/base/buf.h:
lib/proto/mime.h:
lib/proto/rfc2047.h:
lib/base/codec.h:
lib/base/buf.h:
