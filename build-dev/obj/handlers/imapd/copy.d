build-dev/obj/handlers/imapd/copy.o: handlers/imapd/copy.c \
 /usr/include/sqlcipher/sqlite3.h handlers/imapd/imapd.h lib/base/buf.h \
 lib/sys/conf.h lib/sys/conn.h lib/proto/imapparse.h lib/proto/seqset.h \
 lib/sys/io.h lib/svc/notify.h lib/proto/seqset.h lib/data/store.h \
 lib/sys/log.h lib/base/mem.h
/usr/include/sqlcipher/sqlite3.h:
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
lib/sys/log.h:
lib/base/mem.h:
