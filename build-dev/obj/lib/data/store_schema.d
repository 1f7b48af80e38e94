build-dev/obj/lib/data/store_schema.o: lib/data/store_schema.c \
 lib/data/store_int.h /usr/include/sqlcipher/sqlite3.h lib/base/buf.h \
 lib/data/store.h
lib/data/store_int.h:
/usr/include/sqlcipher/sqlite3.h:
lib/base/buf.h:
lib/data/store.h:
