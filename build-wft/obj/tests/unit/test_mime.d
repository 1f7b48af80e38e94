build-wft/obj/tests/unit/test_mime.o: tests/unit/test_mime.c \
 lib/base/buf.h lib/proto/mime.h lib/proto/rfc2047.h lib/proto/rfc2231.h
lib/base/buf.h:
lib/proto/mime.h:
lib/proto/rfc2047.h:
lib/proto/rfc2231.h:
