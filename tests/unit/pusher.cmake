# Unit tests of services/pusher modules (included by tests/unit/CMakeLists.txt).
mc_unit_test(test_pusher_hub SOURCES test_pusher_hub.c LIBS mc_pusher)
mc_unit_test(test_pusher_protocol SOURCES test_pusher_protocol.c LIBS mc_pusher)
mc_unit_test(test_pusher_resume SOURCES test_pusher_resume.c LIBS mc_pusher)
mc_unit_test(test_pusher_config SOURCES test_pusher_config.c LIBS mc_pusher)
mc_unit_test(test_pusher_workers SOURCES test_pusher_workers.c LIBS mc_pusher)
mc_unit_test(test_pusher_origin SOURCES test_pusher_origin.c LIBS mc_pusher)
mc_unit_test(test_pusher_guard SOURCES test_pusher_guard.c LIBS mc_pusher)
