build-dev/obj/lib/data/store_open.o: lib/data/store_open.c \
 lib/data/store.h /usr/include/sqlcipher/sqlite3.h lib/base/buf.h \
 lib/base/codec.h lib/base/buf.h lib/data/store_int.h
lib/data/store.h:
/usr/include/sqlcipher/sqlite3.h:
lib/base/buf.h:
lib/base/codec.h:
lib/base/buf.h:
lib/data/store_int.h:
