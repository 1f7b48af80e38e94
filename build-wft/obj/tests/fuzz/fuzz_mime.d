build-wft/obj/tests/fuzz/fuzz_mime.o: tests/fuzz/fuzz_mime.c \
 lib/base/buf.h lib/proto/mime.h lib/proto/rfc2047.h
lib/base/buf.h:
lib/proto/mime.h:
lib/proto/rfc2047.h:
