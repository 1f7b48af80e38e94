build-dev/obj/lib/data/store_stmt.o: lib/data/store_stmt.c lib/base/mem.h \
 lib/data/store_int.h /usr/include/sqlcipher/sqlite3.h lib/base/buf.h \
 lib/data/store.h
lib/base/mem.h:
lib/data/store_int.h:
/usr/include/sqlcipher/sqlite3.h:
lib/base/buf.h:
lib/data/store.h:
