build-dev/obj/lib/data/store_import.o: lib/data/store_import.c \
 lib/data/store.h /usr/include/sqlcipher/sqlite3.h lib/base/buf.h \
 lib/base/mem.h lib/crypto/age.h lib/data/spool.h lib/data/store_int.h \
 lib/sys/log.h
lib/data/store.h:
/usr/include/sqlcipher/sqlite3.h:
lib/base/buf.h:
lib/base/mem.h:
lib/crypto/age.h:
lib/data/spool.h:
lib/data/store_int.h:
lib/sys/log.h:
