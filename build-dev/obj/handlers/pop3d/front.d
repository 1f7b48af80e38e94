build-dev/obj/handlers/pop3d/front.o: handlers/pop3d/front.c lib/sys/io.h \
 lib/base/buf.h lib/sys/log.h lib/sys/server.h lib/sys/conf.h \
 sandbox/sandbox.h lib/sys/title.h lib/login/login.h lib/sys/conf.h \
 lib/sys/conn.h lib/login/loginback.h lib/login/login.h lib/data/store.h \
 /usr/include/sqlcipher/sqlite3.h handlers/pop3d/pop3d.h \
 lib/proto/pop3parse.h
lib/sys/io.h:
lib/base/buf.h:
lib/sys/log.h:
lib/sys/server.h:
lib/sys/conf.h:
sandbox/sandbox.h:
lib/sys/title.h:
lib/login/login.h:
lib/sys/conf.h:
lib/sys/conn.h:
lib/login/loginback.h:
lib/login/login.h:
lib/data/store.h:
/usr/include/sqlcipher/sqlite3.h:
handlers/pop3d/pop3d.h:
lib/proto/pop3parse.h:
