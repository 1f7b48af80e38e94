build-dev/obj/lib/data/store_rekey.o: lib/data/store_rekey.c \
 lib/data/store.h /usr/include/sqlcipher/sqlite3.h lib/base/buf.h \
 lib/data/store_int.h lib/sys/log.h
lib/data/store.h:
/usr/include/sqlcipher/sqlite3.h:
lib/base/buf.h:
lib/data/store_int.h:
lib/sys/log.h:
