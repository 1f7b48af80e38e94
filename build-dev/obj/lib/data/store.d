build-dev/obj/lib/data/store.o: lib/data/store.c lib/data/store.h \
 /usr/include/sqlcipher/sqlite3.h lib/base/buf.h lib/base/mem.h \
 lib/data/store_int.h lib/sys/log.h
lib/data/store.h:
/usr/include/sqlcipher/sqlite3.h:
lib/base/buf.h:
lib/base/mem.h:
lib/data/store_int.h:
lib/sys/log.h:
