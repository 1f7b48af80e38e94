build-dev/obj/lib/data/store_msg.o: lib/data/store_msg.c lib/base/mem.h \
 lib/data/store_int.h /usr/include/sqlcipher/sqlite3.h lib/base/buf.h \
 lib/data/store.h
lib/base/mem.h:
lib/data/store_int.h:
/usr/include/sqlcipher/sqlite3.h:
lib/base/buf.h:
lib/data/store.h:
