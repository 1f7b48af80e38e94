build-dev/obj/lib/svc/deliver.o: lib/svc/deliver.c lib/svc/deliver.h \
 lib/crypto/age.h lib/base/buf.h lib/sys/conf.h lib/base/fmt.h \
 lib/sys/conn.h lib/data/directory.h lib/proto/addr.h lib/sys/log.h \
 lib/base/mem.h lib/svc/notify.h lib/data/spool.h lib/base/timeutil.h
lib/svc/deliver.h:
lib/crypto/age.h:
lib/base/buf.h:
lib/sys/conf.h:
lib/base/fmt.h:
lib/sys/conn.h:
lib/data/directory.h:
lib/proto/addr.h:
lib/sys/log.h:
lib/base/mem.h:
lib/svc/notify.h:
lib/data/spool.h:
lib/base/timeutil.h:
