build-wft/obj/handlers/smtpd/main.o: handlers/smtpd/main.c \
 handlers/smtpd/smtp.h lib/sys/conf.h lib/sys/conn.h lib/svc/deliver.h \
 lib/crypto/age.h lib/base/buf.h
handlers/smtpd/smtp.h:
lib/sys/conf.h:
lib/sys/conn.h:
lib/svc/deliver.h:
lib/crypto/age.h:
lib/base/buf.h:
