build-wft/obj/handlers/smtpd/smtp.o: handlers/smtpd/smtp.c \
 handlers/smtpd/smtp.h lib/sys/conf.h lib/sys/conn.h lib/svc/deliver.h \
 lib/crypto/age.h lib/base/buf.h lib/sys/io.h lib/sys/log.h \
 lib/base/mem.h lib/svc/milter.h lib/base/rnd.h lib/sys/server.h \
 lib/sys/conf.h sandbox/sandbox.h lib/svc/confine.h lib/proto/smtpparse.h \
 lib/base/timeutil.h
handlers/smtpd/smtp.h:
lib/sys/conf.h:
lib/sys/conn.h:
lib/svc/deliver.h:
lib/crypto/age.h:
lib/base/buf.h:
lib/sys/io.h:
lib/sys/log.h:
lib/base/mem.h:
lib/svc/milter.h:
lib/base/rnd.h:
lib/sys/server.h:
lib/sys/conf.h:
sandbox/sandbox.h:
lib/svc/confine.h:
lib/proto/smtpparse.h:
lib/base/timeutil.h:
