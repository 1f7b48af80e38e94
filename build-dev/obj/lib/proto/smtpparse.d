build-dev/obj/lib/proto/smtpparse.o: lib/proto/smtpparse.c \
 lib/proto/smtpparse.h lib/base/buf.h
lib/proto/smtpparse.h:
lib/base/buf.h:
