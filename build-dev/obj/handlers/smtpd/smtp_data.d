build-dev/obj/handlers/smtpd/smtp_data.o: handlers/smtpd/smtp_data.c \
 handlers/smtpd/smtp_int.h handlers/smtpd/smtp.h lib/sys/conf.h \
 lib/sys/server.h lib/sys/conf.h sandbox/sandbox.h lib/sys/conn.h \
 lib/svc/deliver.h lib/crypto/age.h lib/base/buf.h lib/proto/smtpparse.h \
 lib/sys/io.h lib/base/timeutil.h lib/sys/log.h
handlers/smtpd/smtp_int.h:
handlers/smtpd/smtp.h:
lib/sys/conf.h:
lib/sys/server.h:
lib/sys/conf.h:
sandbox/sandbox.h:
lib/sys/conn.h:
lib/svc/deliver.h:
lib/crypto/age.h:
lib/base/buf.h:
lib/proto/smtpparse.h:
lib/sys/io.h:
lib/base/timeutil.h:
lib/sys/log.h:
