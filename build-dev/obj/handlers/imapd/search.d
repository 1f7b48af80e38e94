build-dev/obj/handlers/imapd/search.o: handlers/imapd/search.c \
 /usr/include/sqlcipher/sqlite3.h handlers/imapd/imapd.h lib/base/buf.h \
 lib/sys/conf.h lib/sys/conn.h lib/proto/imapparse.h lib/proto/seqset.h \
 lib/sys/io.h lib/svc/notify.h lib/proto/seqset.h lib/data/store.h \
 lib/proto/imapsearch.h lib/proto/imapparse.h lib/sys/log.h \
 lib/base/mem.h lib/proto/msgtext.h
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
lib/proto/imapsearch.h:
lib/proto/imapparse.h:
lib/sys/log.h:
lib/base/mem.h:
lib/proto/msgtext.h:
