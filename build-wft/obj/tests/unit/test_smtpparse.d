build-wft/obj/tests/unit/test_smtpparse.o: tests/unit/test_smtpparse.c \
 lib/base/buf.h lib/proto/smtpparse.h
lib/base/buf.h:
lib/proto/smtpparse.h:
