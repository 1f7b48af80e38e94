build-dev/obj/handlers/imapd/append.o: handlers/imapd/append.c \
 handlers/imapd/imapd.h lib/base/buf.h lib/sys/conf.h lib/sys/conn.h \
 lib/proto/imapparse.h lib/proto/seqset.h lib/sys/io.h lib/svc/notify.h \
 lib/proto/seqset.h lib/data/store.h /usr/include/sqlcipher/sqlite3.h \
 lib/proto/imapsearch.h lib/proto/imapparse.h lib/base/mem.h
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
lib/proto/imapsearch.h:
lib/proto/imapparse.h:
lib/base/mem.h:
