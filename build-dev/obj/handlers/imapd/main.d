build-dev/obj/handlers/imapd/main.o: handlers/imapd/main.c \
 handlers/imapd/imapd.h lib/base/buf.h lib/sys/conf.h lib/sys/conn.h \
 lib/proto/imapparse.h lib/proto/seqset.h lib/sys/io.h lib/svc/notify.h \
 lib/proto/seqset.h lib/data/store.h /usr/include/sqlcipher/sqlite3.h \
 lib/login/login.h lib/sys/server.h lib/sys/conf.h sandbox/sandbox.h \
 lib/sys/title.h lib/sys/tunables.h
handlers/imapd/imapd.h:
lib/base/buf.h:
lib/sys/conf.h:
lib/sys/conn.h:
lib/proto/imapparse.h:
lib/proto/seqset.h:
lib/sys/io.h:
lib/svc/notify.h:
lib/proto/seqset.h:
lib/data/store.h:
/usr/include/sqlcipher/sqlite3.h:
lib/login/login.h:
lib/sys/server.h:
lib/sys/conf.h:
sandbox/sandbox.h:
lib/sys/title.h:
lib/sys/tunables.h:
