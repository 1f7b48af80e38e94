build-dev/obj/handlers/pop3d/session.o: handlers/pop3d/session.c \
 /usr/include/sqlcipher/sqlite3.h lib/base/mem.h lib/sys/io.h \
 lib/base/buf.h lib/sys/log.h lib/sys/title.h lib/svc/notify.h \
 lib/login/login.h lib/sys/conf.h lib/sys/conn.h lib/sys/server.h \
 lib/sys/conf.h sandbox/sandbox.h lib/login/loginback.h lib/login/login.h \
 lib/data/store.h handlers/pop3d/pop3d.h lib/proto/pop3parse.h
/usr/include/sqlcipher/sqlite3.h:
lib/base/mem.h:
lib/sys/io.h:
lib/base/buf.h:
lib/sys/log.h:
lib/sys/title.h:
lib/svc/notify.h:
lib/login/login.h:
lib/sys/conf.h:
lib/sys/conn.h:
lib/sys/server.h:
lib/sys/conf.h:
sandbox/sandbox.h:
lib/login/loginback.h:
lib/login/login.h:
lib/data/store.h:
handlers/pop3d/pop3d.h:
lib/proto/pop3parse.h:
