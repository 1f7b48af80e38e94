build-dev/obj/handlers/imapd/front.o: handlers/imapd/front.c \
 lib/sys/conn.h handlers/imapd/imapd.h lib/base/buf.h lib/sys/conf.h \
 lib/proto/imapparse.h lib/proto/seqset.h lib/sys/io.h lib/svc/notify.h \
 lib/proto/seqset.h lib/data/store.h /usr/include/sqlcipher/sqlite3.h \
 lib/sys/log.h lib/sys/server.h lib/sys/conf.h sandbox/sandbox.h \
 lib/login/login.h
lib/sys/conn.h:
handlers/imapd/imapd.h:
lib/base/buf.h:
lib/sys/conf.h:
lib/proto/imapparse.h:
lib/proto/seqset.h:
lib/sys/io.h:
lib/svc/notify.h:
lib/proto/seqset.h:
lib/data/store.h:
/usr/include/sqlcipher/sqlite3.h:
lib/sys/log.h:
lib/sys/server.h:
lib/sys/conf.h:
sandbox/sandbox.h:
lib/login/login.h:
