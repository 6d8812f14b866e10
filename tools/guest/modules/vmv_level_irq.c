// SPDX-License-Identifier: GPL-2.0
/*
 * vmv_level_irq: a level-triggered interrupt on one GPIO line, for the real-guest test of virtio-gpio's level
 * interrupts (VIRTIO 1.2 §5.18.7). gpiod's tools request edges only (the GPIO character device has no level
 * interrupts), so this module asks gpiolib for the line's interrupt with IRQF_TRIGGER_HIGH or _LOW, as a
 * driver of a level-signalling chip does, and counts how often its handler runs.
 *
 * The handler is threaded and one-shot: gpio-virtio's irq chip sits on a slow bus, so the line stays masked until
 * the thread returns; its unmask hands the device a new eventq buffer, and a level that still holds fires again at
 * once. After `limit` runs the thread disables the interrupt (IRQ_TYPE_NONE goes to the device), so that a level
 * held forever is a bounded number of interrupts. Writing 1 to `rearm` enables it again.
 *
 * Parameters: chip (the gpiochip's label, e.g. virtio1, as gpiodetect shows it in brackets), line (its offset),
 * level (high or low), limit (default 100); count (read only): the handler's runs so far.
 * Built out of tree by tools/guest/scripts/build-modules.sh; loaded by the test with insmod, never at boot.
 */
#include <linux/gpio/consumer.h>
#include <linux/gpio/driver.h>
#include <linux/interrupt.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

static char *chip = "";
module_param(chip, charp, 0444);
MODULE_PARM_DESC(chip, "the gpiochip's label");
static unsigned int line;
module_param(line, uint, 0444);
MODULE_PARM_DESC(line, "the line's offset on the chip");
static char *level = "high";
module_param(level, charp, 0444);
MODULE_PARM_DESC(level, "high or low: the level that holds the interrupt");
static unsigned int limit = 100;
module_param(limit, uint, 0444);
MODULE_PARM_DESC(limit, "runs of the handler after which the interrupt is disabled");
static unsigned int count;
module_param(count, uint, 0444);
MODULE_PARM_DESC(count, "runs of the handler so far");

static int irq = -1;
static bool disabled;
static DEFINE_MUTEX(state_lock);

static irqreturn_t vmv_level_thread(int irq_no, void *data)
{
	mutex_lock(&state_lock);
	WRITE_ONCE(count, count + 1);
	if (count % limit == 0 && !disabled) {
		disabled = true;
		disable_irq_nosync(irq_no);
	}
	mutex_unlock(&state_lock);
	return IRQ_HANDLED;
}

static int rearm_set(const char *val, const struct kernel_param *kp)
{
	bool on;
	int ret = kstrtobool(val, &on);

	if (ret)
		return ret;
	if (!on || irq < 0)
		return -EINVAL;
	mutex_lock(&state_lock);
	if (disabled) {
		disabled = false;
		enable_irq(irq);
	}
	mutex_unlock(&state_lock);
	return 0;
}

static const struct kernel_param_ops rearm_ops = { .set = rearm_set };
module_param_cb(rearm, &rearm_ops, NULL, 0200);
MODULE_PARM_DESC(rearm, "write 1: enable the interrupt again after the limit disabled it");

static int __init vmv_level_init(void)
{
	struct gpio_device *gdev;
	struct gpio_desc *desc;
	unsigned long trigger;
	int ret;

	if (!strcmp(level, "high"))
		trigger = IRQF_TRIGGER_HIGH;
	else if (!strcmp(level, "low"))
		trigger = IRQF_TRIGGER_LOW;
	else
		return -EINVAL;
	if (limit == 0)
		return -EINVAL;
	gdev = gpio_device_find_by_label(chip);
	if (!gdev) {
		pr_err("vmv_level_irq: no gpiochip labelled '%s'\n", chip);
		return -ENODEV;
	}
	desc = gpio_device_get_desc(gdev, line);
	if (IS_ERR(desc)) {
		gpio_device_put(gdev);
		return PTR_ERR(desc);
	}
	ret = gpiod_to_irq(desc);
	gpio_device_put(gdev);
	if (ret < 0) {
		pr_err("vmv_level_irq: line %u of %s has no interrupt: %d\n", line, chip, ret);
		return ret;
	}
	irq = ret;
	ret = request_threaded_irq(irq, NULL, vmv_level_thread, trigger | IRQF_ONESHOT, "vmv_level_irq", &irq);
	if (ret) {
		pr_err("vmv_level_irq: request_threaded_irq(%d) failed: %d\n", irq, ret);
		irq = -1;
		return ret;
	}
	pr_info("vmv_level_irq: irq %d on line %u of %s, level %s, limit %u\n", irq, line, chip, level, limit);
	return 0;
}

static void __exit vmv_level_exit(void)
{
	free_irq(irq, &irq);
}

module_init(vmv_level_init);
module_exit(vmv_level_exit);
MODULE_DESCRIPTION("A level-triggered GPIO interrupt counter for @vmv's real-guest tests");
MODULE_LICENSE("GPL");
