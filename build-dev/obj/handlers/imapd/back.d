build-dev/obj/handlers/imapd/back.o: handlers/imapd/back.c \
 handlers/imapd/imapd.h lib/base/buf.h lib/sys/conf.h lib/sys/conn.h \
 lib/proto/imapparse.h lib/proto/seqset.h lib/sys/io.h lib/svc/notify.h \
 lib/proto/seqset.h lib/data/store.h /usr/include/sqlcipher/sqlite3.h \
 lib/sys/log.h lib/base/mem.h lib/proto/mutf7.h lib/base/timeutil.h
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
lib/sys/log.h:
lib/base/mem.h:
lib/proto/mutf7.h:
lib/base/timeutil.h:
