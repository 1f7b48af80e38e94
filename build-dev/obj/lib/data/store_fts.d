build-dev/obj/lib/data/store_fts.o: lib/data/store_fts.c lib/base/buf.h \
 lib/proto/msgtext.h lib/data/store_int.h \
 /usr/include/sqlcipher/sqlite3.h lib/data/store.h
lib/base/buf.h:
lib/proto/msgtext.h:
lib/data/store_int.h:
/usr/include/sqlcipher/sqlite3.h:
lib/data/store.h:
