build-wft/obj/tests/fuzz/fuzz_smtpparse.o: tests/fuzz/fuzz_smtpparse.c \
 lib/base/buf.h lib/proto/smtpparse.h
lib/base/buf.h:
lib/proto/smtpparse.h:
