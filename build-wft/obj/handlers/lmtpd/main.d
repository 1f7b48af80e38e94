build-wft/obj/handlers/lmtpd/main.o: handlers/lmtpd/main.c \
 handlers/lmtpd/../smtpd/smtp.h lib/sys/conf.h lib/sys/conn.h \
 lib/svc/deliver.h lib/crypto/age.h lib/base/buf.h
handlers/lmtpd/../smtpd/smtp.h:
lib/sys/conf.h:
lib/sys/conn.h:
lib/svc/deliver.h:
lib/crypto/age.h:
lib/base/buf.h:
