from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("task_api", "0004_batches"),
    ]

    operations = [
        migrations.AddField(
            model_name="taskrecord",
            name="run_after",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
