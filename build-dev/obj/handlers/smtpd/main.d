build-dev/obj/handlers/smtpd/main.o: handlers/smtpd/main.c \
 handlers/smtpd/smtp.h lib/sys/conf.h lib/sys/server.h lib/sys/conf.h \
 sandbox/sandbox.h lib/sys/conn.h lib/svc/deliver.h lib/crypto/age.h \
 lib/base/buf.h lib/sys/title.h lib/sys/tunables.h
handlers/smtpd/smtp.h:
lib/sys/conf.h:
lib/sys/server.h:
lib/sys/conf.h:
sandbox/sandbox.h:
lib/sys/conn.h:
lib/svc/deliver.h:
lib/crypto/age.h:
lib/base/buf.h:
lib/sys/title.h:
lib/sys/tunables.h:
