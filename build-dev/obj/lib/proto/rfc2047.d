build-dev/obj/lib/proto/rfc2047.o: lib/proto/rfc2047.c \
 lib/proto/rfc2047.h lib/base/buf.h lib/base/codec.h lib/base/buf.h
lib/proto/rfc2047.h:
lib/base/buf.h:
lib/base/codec.h:
lib/base/buf.h:
