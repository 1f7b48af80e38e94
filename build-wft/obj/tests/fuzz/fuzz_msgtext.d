build-wft/obj/tests/fuzz/fuzz_msgtext.o: tests/fuzz/fuzz_msgtext.c \
 lib/base/buf.h lib/proto/msgtext.h lib/proto/rfc2047.h
lib/base/buf.h:
lib/proto/msgtext.h:
lib/proto/rfc2047.h:
